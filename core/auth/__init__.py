"""Users, roles, passwords, lockout, login cookies, invitations and password resets.

The security lives here and in the database; streamlit-authenticator only draws the login form.
Every login, failure, lockout, logout and account change is written to the audit log (core.storage.audit):
callers pass who acts (`actor=`) or, for a user's own actions, where from (`source=`, the client IP).

- errors.py     AuthError, whose message is written for the user
- passwords.py  password policy, hashing and checking
- users.py      accounts: CurrentUser, create, read, change role, remove, the first Admin
- login.py      password login with database lockout, password change, the login form's credentials
- sessions.py   login cookie tokens and their server-side check, session revocation
- links.py      one-time invitation and password-reset links
- mail.py       sending a link by SMTP
- cli.py        the `python -m core users add` and `invite` commands

Import the submodule you need (`from core.auth import users`); this package re-exports nothing.
"""
