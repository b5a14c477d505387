"""Alerts, the whole feature: receivers (verify + parse), the pipeline that stores them, what people do to
them (acknowledge, resolve, silence, escalate), escalation and on-call, time-driven housekeeping, storms,
the alert card, and the outbox and escalator that deliver cards and notifications through the Board.

    receive      POST /alerts/{sns,alertmanager,webhook} -> events (sns, alertmanager, webhook parse them)
    pipeline     events -> stored alerts, incidents for P1/P2, queued deliveries
    service      Alerts: acknowledge, resolve, silence, escalate, list (one transaction each)
    escalation   due steps, taken once (compare-and-set); oncall + overrides: who is on call
    housekeeping auto-resolve, re-fire stale acknowledgements
    storm        past a threshold, new alerts fold into one summary per channel
    card         the alert card and the storm summary, rendered from rows
    outbox       delivers queued cards, paced per channel, through the Board
    escalator    takes due steps and tells people, through the Board
"""
