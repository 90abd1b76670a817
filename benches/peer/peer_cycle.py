"""One report cycle of waldur-site-agent, the function its daemon loop calls each period.

usage: python peer_cycle.py CONFIG.yaml   (run with the peer's virtualenv python)
With PEER_NOW set, time-machine moves the clock there before the peer's modules are imported,
so the peer picks PEER_NOW's month and the one before.
"""
import os
import sys

if os.environ.get("PEER_NOW"):
    import time_machine

    time_machine.travel(os.environ["PEER_NOW"], tick=True).start()

from waldur_site_agent.common import utils  # noqa: E402
from waldur_site_agent.polling_processing import agent_report  # noqa: E402

config = utils.load_configuration(sys.argv[1], user_agent_suffix="report")
config.waldur_site_agent_mode = "report"
agent_report._process_offerings(config, {})
