"""What a finished run tells people: the report beside the source report's figures, every
figure with its CI, and the model card."""
