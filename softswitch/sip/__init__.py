"""Sans-IO SIP: messages, transactions, dialogs, digest auth, SDP; transport.py is the only socket code."""
