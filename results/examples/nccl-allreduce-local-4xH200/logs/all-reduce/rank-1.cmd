/opt/torch/.venv/bin/python3 -m runner.probes.collectives --collective all_reduce --backend nccl -b 8K -e 1G -f 2 -n 20 -w 5
