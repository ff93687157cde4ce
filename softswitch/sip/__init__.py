"""Sans-IO SIP: messages, transactions, dialogs, digest auth, SDP; only transport.py has sockets."""
