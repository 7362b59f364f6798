/opt/torch/.venv/bin/python3 -m runner.probes.collectives --collective all_to_all --backend nccl -b 8K -e 256M -f 2 -n 5 -w 2
