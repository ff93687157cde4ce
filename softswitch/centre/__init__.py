"""The call-centre applications: queues and agents' feature codes on real legs.

`acd/` decides (pure, clock injected); this layer carries the decisions out on the call layer's
legs (`calls/`): one `CallCentre` per switch owns the ACD engine, its one timer, and the
applications a caller in a queue (`QueueCall`) and an agent dialling `*45`-`*48`
(`AgentFeature`) are attached to.
"""
