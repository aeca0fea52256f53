"""Entry point of the `beam-job` service: `python -m streaming.beam_job`."""

from __future__ import annotations

from streaming.beam_job.driver import main

if __name__ == "__main__":
    main()
