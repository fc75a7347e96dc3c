"""Published field trials run inside the lab: the trial file, the runner and ``postloan trial``.

``load_trial`` reads and validates a trial file (``docs/trials.md``); ``run_trial`` runs it on a
simulated book and returns the simulated effect beside the published one.
"""

from postloan.trials.runner import TrialResult, run_trial
from postloan.trials.spec import SCHEMA_VERSION, TrialError, TrialSpec, load_trial

__all__ = ["SCHEMA_VERSION", "TrialError", "TrialResult", "TrialSpec", "load_trial", "run_trial"]
