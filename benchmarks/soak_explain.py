"""The fixed part of ``docs/soak.md``: how to read the tables, and the queueing behind the numbers."""

EXPLANATION = """\
## How to read the tables

- **sent**: requests due in the phase. The generator is open loop: request *i* is due at *i* ÷ rate whatever the
  server does, so an overloaded server really receives twice its capacity (wrk, closed loop, would slow down with
  it). **Latencies count from the due time**, not from when the request left, so a stalled server, a full
  connection pool or a late generator all show up as latency (no coordinated omission).
- **admitted** = 2xx; **shed** = 503 or 429, with the number that carried `Retry-After` in brackets; **other
  statuses** = every other status (any 5xx here is a failure); **socket errors**: `timeout` (no answer within the
  request timeout: the client gives up and closes the connection), `connect`, `reset`, `closed`.
- **shed p50**: how long a shed answer took. Shedding protects latency only if a refusal is fast; a 503 that takes
  seconds is queueing with a different status code.
- **gen. lag p99** (due → launched) and **gen. CPU** are the generator's own health: a lag of a few ms means it
  sent on time and the server, not the generator, is measured. Its thread runs with real-time priority (when
  allowed) because it shares the two cores with the server; it needs about a quarter of one core at 800 req/s.
- **RSS** is the sum over the server's process tree (gunicorn master and workers) from `/proc`, before the overload
  (after the capacity run, so warm-up allocations are not counted as growth), at its end and after recovery.
- **admitted req/s** is the goodput: answers that reached a client still waiting for them, over the phase and its
  tail. **last admitted > 100 ms** is when (seconds into the phase) the last request was due that was answered
  slower than the bound: in the recovery phase, how long the server took to recover.
- `model_server_shed_total` can exceed the sheds clients received: a client that timed out and left before its
  request was read or shed is counted by the server but not by the generator.

## Where a request waits, and what sheds it

Each worker is gunicorn's asyncio worker in front of a pool of `THREADS` threads that run the Flask app
(`app/web/front.py`). In order, a request can wait in:

1. the kernel's accept queue and socket buffers, until the worker's event loop reads it (the loop shares the GIL
   with the request threads, so a worker saturated by its threads reads late);
2. **the front's queue** for a thread: a POST is shed at once with 503 + `Retry-After` when `MAX_IN_FLIGHT` POSTs
   are already being read, queued or run, and, when a thread takes it, if it waited longer than
   `MAX_QUEUE_WAIT_MS` since the loop read its headers;
3. the **batching queue** (`BATCH_QUEUE_SIZE`, shed with 503 when full) and the model call.

**Queueing math.** A FIFO queue served at μ requests/s makes a request that finds *N* ahead of it wait *N* ÷ μ.
Offered λ > μ, an unbounded backlog grows by λ − μ per second: at 2× overload, after *t* seconds the wait is *t*
seconds, until requests hit the client's timeout. Bounding what is admitted (*N* ≤ `MAX_IN_FLIGHT`, wait ≤
`MAX_QUEUE_WAIT_MS`) caps the admitted latency at about the bound plus one model call.

**A shed must be much cheaper than an answer.** Per worker there is one GIL-second per second. With *c*ₐ the GIL time
of an admitted request (≈ 1 ÷ μ) and *c*ₛ that of a refusal, a worker offered λ keeps up only if λ *c*ₛ is well
below 1. The first version of this server used gunicorn's thread worker, where every request, even one refused
before Flask, cost about 0.8 ms of the GIL in gunicorn's dispatching and HTTP parsing (a do-nothing WSGI app tops out
near 1,800 req/s there on this machine): at 2× capacity a worker spent most of its time refusing and a backlog
built where no code could see it (runs 1 to 3 below keep those results). The asyncio front reads and refuses in the
event loop (a do-nothing ASGI app: about 19,000 req/s; our 503 path with wrk and 64 connections: about 6,600 req/s,
against about 450 to 550 predictions/s), so refusing twice the capacity costs a fraction of the GIL.

**Choosing the bounds.** `MAX_IN_FLIGHT` near `THREADS` keeps excess requests in the cheap path (the loop) instead
of the thread pool, where they would compete with admitted work for the GIL; `MAX_QUEUE_WAIT_MS` is the latency
objective minus the model's own p99. The defaults (128 and 1000 ms) keep latency and memory bounded without
refusing ordinary bursts; the configuration that meets p99 ≤ 100 ms at 2× here is
`MAX_IN_FLIGHT=8 MAX_QUEUE_WAIT_MS=50`.

## What follows

- **On Cloud Run the platform sheds too, in front of the container.** `--concurrency` (= `THREADS`, 8) caps the
  requests an instance receives; beyond that Cloud Run queues them briefly, scales out, and answers 429 itself when
  no instance can take more (`--max-instances` reached).
- **Elsewhere (GKE, Vertex AI, direct)**, the server's own bounds hold a worker at 2× its capacity; a gateway's rate
  limit or an Envoy/Istio circuit breaker in front adds protection against floods far beyond that.
"""
