"""Load harness: the switch against Kamailio, rtpengine and sippy under identical SIPp load."""
