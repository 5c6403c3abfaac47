"""`python -m assay.runner --fd N`: a runner process (started by runner/client.py)."""

from assay.runner.child import main

raise SystemExit(main())
