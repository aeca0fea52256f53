"""The simulated building management systems: a SOAP BMS per facility (spyne) with fault injection."""
