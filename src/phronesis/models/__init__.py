"""Model access: generation and option log-probs (models.backends), sentence embeddings and a chat model's
reply-opening state, LoRA merge. Imports core and data."""
