"""The borrower model, written once: every behaviour rule as a small compiled function.

Each rule works on one account: it takes that account's state (scalars, or the book's arrays
and the account id where it writes state back), the run's parameter record (:mod:`.params`,
built once per run from the validated scenario) and the day's stream offsets
(:func:`.params.day_offsets`), and draws its own luck with :func:`sim.rng.uniform_at`, so a
rule that is switched off draws nothing and changes no other rule's numbers. Both engines call
these functions: the vectorised engine's loops (:mod:`sim.kernels`) for today's active
accounts, the Mesa agents (:mod:`sim.abm.agents`) on their own account. Each docstring states
the rule's equation; docs/behaviour.md points here.

Modules, one per family of rules:

* :mod:`.hardship` -- hardship onset and exit, the medical-expense shock, the early-warning
  signal and debt-to-income drift;
* :mod:`.due_date` -- paying or missing the instalment, prepayment, paying the new
  instalment while in arrears;
* :mod:`.contact` -- reach, right-party contact and the excitation a contact gives;
* :mod:`.promises` -- promises made and kept;
* :mod:`.irritation` -- irritation, complaints and churn;
* :mod:`.repayment` -- the self-exciting repayment intensity, full and partial payments,
  settlement, catch-up and rest after a partial payment;
* :mod:`.reageing` -- re-ageing of a late account by a payment arrangement;
* :mod:`.write_off` -- a current account written off at once (bankruptcy, death, fraud);
* :mod:`.recovery` -- post-charge-off recovery luck;
* :mod:`.restructuring` -- take-up of a hardship plan.
"""
