"""Where a workspace lives, behind one protocol (base.RunBackend): a folder on this machine (local) or a
`runyard server` (http). The service facade (Workspace, Experiment, Run, Datastore) is written over it."""
