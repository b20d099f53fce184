"""Train a model on an event log (or the synthetic one) and save it to the BentoML model store:
`python train_and_save.py --events log.csv --promote`. The same command and flags as `make train`
(purchase.cli.train); `python train_and_save.py --help` lists them."""

from purchase.cli.train import main

if __name__ == "__main__":
    main()
