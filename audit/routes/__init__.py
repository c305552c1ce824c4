"""The audit service's HTTP routes, one router per concern: the API (:mod:`.events`), health
(:mod:`.ops`) and the officers' dashboard (:mod:`.dashboard`). Each handler reads its input, asks
the store or a domain module (:mod:`audit.checkpoints`, :mod:`audit.reports`,
:mod:`audit.compliance`, :mod:`audit.triage`), records what happened through its request's auditor
and answers; none holds business logic."""
