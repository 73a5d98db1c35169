package engine

// EventProgress says a stage is still running: Message is "running
// 1m30s …" (runlog.Progress emits it for a stage running over 10 s).
const EventProgress = "progress"
