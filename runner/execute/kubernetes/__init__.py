"""The Kubernetes side of the runner, one module per concern; executor.py wires them.

    kinds       the kinds the runner applies: API paths, CRD names and how to install them
    client      config loading (kubeconfig/--context or in-cluster) and the ONE place where
                ApiException / connection errors become ExecutionError; request counting
    apply       run labels on every object (and pod template), server-side apply, dry runs
    wait        list+watch caches (no sleep-polling), readiness/completion of each workload kind
    logs        follow container logs into the run directory while pods run
    diagnose    pod problems (ImagePullBackOff, Unschedulable, OOMKilled, ...), events, log tails, hints
    preflight   CRDs, node capacity and permissions checked before anything is created
    facts       cluster version, nodes, images for the run record
    cleanup     delete by run label, then verify that nothing is left
    session     the scheduler's backend for one run: preflight, apply, observe, diagnose, clean up

The official `kubernetes` client is imported inside functions only, so `scenario validate`
never pays for it.
"""
