"""Fleet triage: run one scenario over node sets drawn from a fleet and name the nodes that explain the bad sets.

strategies (which sets next) and scoring (which nodes explain the bad ones) are pure; drive runs the
sets through the normal pipeline (one run record per set) and writes the triage record; report formats it.
"""
