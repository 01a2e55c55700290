"""wuye: WeChat complaint-intake bot for residential property management."""
