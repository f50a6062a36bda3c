"""The transport-neutral exactly-once runner, shared by HTTP views and RPC calls.

- :mod:`.keys` — the operation key of a request (``Idempotency-Key`` or ``Vox-Operation-Id``)
- :mod:`.policy` — ``Options`` and the ``Policy`` a request runs under (options over ``OP_STORE``)
- :mod:`.runner` — admission, decision, waiting, take-over, running, sealing, releasing
- :mod:`.outcomes` — every way a request can end, as a typed value
- :mod:`.transactions` — the transactions opened around the work

Transports add a *work* object (how to run and settle) and a *responder* (outcome -> answer):
:mod:`op_store.lifecycle` for views, :mod:`op_store.rpc` for RPC calls. See ``docs/architecture.md``.
"""
