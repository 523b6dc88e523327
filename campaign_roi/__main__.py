"""``python -m campaign_roi`` runs the CLI."""

from campaign_roi.cli import main

main(prog_name="campaign-roi")
