"""Real-time: Socket.IO handlers (`handlers`) and the notifier (`notifier`)."""
