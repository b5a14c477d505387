"""Adapters to the systems we operate. `base` holds the Protocols, plans and errors everything else uses;
`factory.build_integrations()` maps the config to adapters (grep for a config key there to find the class
that serves it) and imports boto3 or the kubernetes client only when the config names something that needs it."""
