"""The demo: start the WattiVahti simulator and a real InfluxDB 1.x, and say where they listen.

``--serve`` keeps them running until Ctrl-C; otherwise they are stopped again at once.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tests.servers import InfluxDB1, influxdb1_binary
from tests.simulator import Simulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="keep running until Ctrl-C")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wattivahti-demo-") as workdir, Simulator() as sim:
        influx = InfluxDB1(influxdb1_binary(), Path(workdir))
        influx.start()
        try:
            print(f"WattiVahti simulator: {sim.base_url} (api_url {sim.api_url})")
            print(f"InfluxDB {influx.version}: {influx.url}")
            if args.serve:
                print("Press Ctrl-C to stop.")
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            influx.stop()
    print("Stopped the simulator and InfluxDB.")


if __name__ == "__main__":
    main()
