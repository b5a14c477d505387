"""Alarms from monitoring systems into Slack: receivers (parse + verify), the pipeline, the alert card."""
