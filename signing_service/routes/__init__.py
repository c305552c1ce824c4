"""The signing service's HTTP routes, one router per concern. Each handler reads its input, calls
the domain (:mod:`signing_service.signing`, :mod:`~signing_service.authorisation`,
:mod:`~signing_service.verification`, :mod:`~signing_service.batches`), records what happened
through its request's auditor and answers; none holds business logic."""
