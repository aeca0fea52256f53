"""Building management systems over SOAP: the client (zeep) and the gateway that guards every call."""
