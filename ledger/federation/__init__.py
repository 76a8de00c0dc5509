"""The national federation: nodes that witness each other, and the monitor that watches them."""
