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
- `model_server_shed_total` can exceed the sheds clients received, and the server keeps working after the
  overload ends: gunicorn cannot tell that a queued request's client timed out and left, so it still reads,
  decodes and answers (or sheds) it when it gets to it. That wasted work is why goodput falls far below capacity.

## Where a request waits, and why the queue bound does not bound latency

In order, a request to this server can wait in:

1. the kernel's accept queue (gunicorn's `backlog`, 2048), only once a worker holds `worker_connections` (1000);
2. **gunicorn's gthread executor queue**: each worker hands readable connections to a pool of `THREADS` threads;
   the queue in front of that pool is unbounded and invisible to the application;
3. the **batching queue**: a request thread decodes the body (JSON to numpy, under the GIL), validates it, then
   `Batcher.submit` queues it for the model, shedding with 503 + `Retry-After` when `BATCH_QUEUE_SIZE` are queued;
4. the model call itself, up to `MAX_BATCH_SIZE` rows from the queue at once.

**The batching queue can hold at most `THREADS - 1` requests per worker**: every queued request is a thread blocked
in `submit`. With `THREADS` ≤ 256 (the setting's limit) and `BATCH_QUEUE_SIZE` = 256 (the default), it is never
full: **with default settings the server never sheds**. Past capacity, requests wait in gunicorn's executor queue.

**Queueing math.** A FIFO queue served at μ requests/s makes a request that finds *N* ahead of it wait *N* ÷ μ.
Offered λ > μ, the backlog grows by λ − μ per second; at 2× overload (λ = 2μ), after *t* seconds *N* = μ*t* and the
wait is *t* seconds: it grows without bound until requests hit the client's timeout. A bound *Q* on the queue caps
the wait at about (*Q* + *B*) ÷ μ, *B* being the requests in the batch being computed: with *Q* = 16 and μ ≈ 550/s,
about 30 ms plus one model call, well inside 100 ms. For p99 ≤ 100 ms the bound must satisfy
(*Q* + *B*) ÷ μ + service time ≲ 100 ms, i.e. *Q* ≲ 0.1 s × μ − *B* (≈ 40 here). Setting `THREADS` above
`BATCH_QUEUE_SIZE` makes the batching queue fill and shed; that is necessary, but not sufficient:

**A shed must be much cheaper than an answer.** Per worker there is one GIL-second per second. Let *c*ₐ be the
GIL time of an admitted request (≈ 1 ÷ μ) and *c*ₛ that of a shed one. Offered λ, the worker keeps up only if it can
at least refuse everything: λ *c*ₛ < 1, i.e. λ ÷ μ < *c*ₐ ÷ *c*ₛ. The batching queue is checked *after* the body is
read and decoded, so *c*ₛ includes decoding, Flask, the metrics and the JSON access line. Measured by hand on this
machine with wrk (32 connections, one worker): `POST /predict` ≈ 540–610 req/s, `GET /healthz` ≈ 910 req/s, and a
`POST /predict` refused before its body is even decoded (the in-flight prototype below with a limit of 0)
≈ 1,020 req/s; without access lines (`LOG_LEVEL=WARNING`) 620, 1,750 and 1,280. So even the cheapest refusal in the
app costs about half a prediction: at 2× capacity a worker cannot even shed fast enough, its gthread queue grows,
and admitted and shed requests alike wait seconds. The tables above show this for every configuration.

**`MAX_IN_FLIGHT=N`** (in the server since this measurement, `app/web/admission.py`) refuses a POST in a plain WSGI
wrapper while *N* requests are inside the app — before Flask, routing, body decoding or an access line — with
`THREADS` above *N* so that excess requests reach the check. That makes *c*ₛ as small as this stack allows; what is left
is gunicorn's own pure-Python HTTP parsing, about a millisecond on this machine.

## What follows

- **On Cloud Run the platform sheds, in front of the container.** `--concurrency` (= `THREADS`, 8) caps the requests
  an instance receives; beyond that Cloud Run queues them briefly, scales out, and answers 429 itself when no
  instance can take more (`--max-instances` reached). The container never sees 2× its capacity.
- **Elsewhere (GKE, Vertex AI, direct), shed in front of the Python process**: e.g. an Envoy/Istio circuit breaker
  (`maxPendingRequests`, `maxRequests`) or a gateway's rate limit, sized with the formula above.
- **In the server**, `MAX_IN_FLIGHT` with `THREADS` above it (e.g. `THREADS=64 MAX_IN_FLIGHT=8`) keeps admitted
  latency bounded and every answer a 200 or a shed up to the overload factor *c*ₐ ÷ *c*ₛ (about 1.8 here); past that,
  gunicorn's HTTP parsing itself is the bottleneck and only shedding in front of the process (above) helps.
"""
