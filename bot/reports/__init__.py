"""Reports for the study team, computed from the event log on pseudonymous ids (MET-03, MET-05).

bot/reports/build.py gives one of REPORTS as metrics, each defined once with its denominator
(bot/reports/metrics.py); render.py prints them as a table, CSV or JSON and charts.py draws them.
This module stays light: the CLI imports it at start-up for the names.
"""

REPORTS = ("funnel", "retention", "escalations", "engagement")
