"""The dashboard (SPEC §1): server-rendered pages for quota administrators, auditors and
brokers, over the same data as the API and with the same roles.

Pages are Jinja2 templates (`service/templates/dashboard/`) with the project's own CSS
(`service/static/`); nothing is loaded from another host, because customs networks are
often closed. The quota chart is an SVG drawn here from the ledger's events, so it needs
no script at all. Sign-in takes a token through a form and keeps a session cookie that
holds no token: a keyed digest of it, signed with its issue time, checked against the
token book on every request. The key is derived from the token book, so every API
process that reads the same tokens file accepts the same sessions, and any change to the
file (a token revoked, say) ends every session once the service restarts with it. Each
session also has a record in Redis (expiring with the cookie) that signing out deletes,
so a copied cookie dies with the sign-out instead of living out its 12 hours.

Pages are in English, French or Chinese (words.py): the reader's choice from the
header's switch, kept beside the session, else the browser's Accept-Language; their words
come from gettext catalogues (locale/), their numbers and dates from Babel.

The package holds the parts that need no request: sessions (sessions.py), the chart
geometry (chart.py), the words of each language (words.py), number and date formatting
(formatting.py) and the page models (pages.py); the routes are service/routes/dashboard.py.
"""
