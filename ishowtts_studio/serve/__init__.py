"""Ray Serve deployment of the engine runtime (issue 16, optional: `pip install -r requirements-ray.txt`).

    replica.py   EngineReplica: one EngineRuntime with its engines inside a Serve replica (streams audio back)
    app.py       the Serve application built from settings: replica count, autoscaling, GPUs per replica
    client.py    RayRuntime: the studio's side, the EngineRuntime interface over a deployment handle
    __main__.py  `python -m ishowtts_studio.serve`: deploy the replicas on a Ray cluster (or a local one)

Nothing here is imported unless `serve.address` is set or the command is run, so the studio never needs ray.
docs/scaling.md describes how the deployment maps onto a cluster.
"""
