"""Use cases over `core` and the store, one subpackage per domain (each has a `docs.md`).

The domains depend on each other in one direction only, lower to the left:

    ledger  <-  access, events  <-  charging  <-  funding  <-  gamification  <-  reports, ops
            <-  bench

`ledger` is the foundation (the write path, idempotency, the journal, the job registry);
`charging` tells its events to `events`; `funding` sells credits for what `charging` prices and
signs its grants with `access`'s staff; `gamification` counts the journal into points, badges
and leaderboards; `ops` runs everyone's jobs and the demo; `bench`
measures it all. `tests/test_layout.py` reads every module's imports and holds this order.
"""
