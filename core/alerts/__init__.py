"""Alerts: rules on an API, customer or segment (rules), their evaluation (evaluate), the sending of each
change of state to webhooks and e-mail (deliver), and the command line and worker (cli)."""
