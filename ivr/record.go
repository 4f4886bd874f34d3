package ivr

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// recordingStopTimeout bounds stopping and closing a recording, which often
// happens after the call's context ended (the caller hung up).
const recordingStopTimeout = 10 * time.Second

// recording is the call's recording in progress.
type recording struct {
	file RecordingFile
	rec  Recorder
	// paused is set by a record node, sensitive by a sensitive collect; the
	// recorder is paused while either is.
	paused, sensitive bool
}

// recordNode runs a record node (rules 15 and 17).
func (s *session) recordNode(ctx context.Context, n *Node) (string, error) {
	action := RecordStart
	if n.Record != nil && n.Record.Action != "" {
		action = n.Record.Action
	}
	switch action {
	case RecordStart:
		s.result(s.startRecording(ctx, n.Name, ""))
	case RecordStop:
		if s.recording == nil {
			s.result("not recording")
			break
		}
		s.stopRecording(ctx, "record node "+n.Name)
		s.result("stopped")
	case RecordPause:
		s.result(s.pauseRecording(n.Name))
	case RecordResume:
		s.result(s.resumeRecording(n.Name))
	default:
		return "", fmt.Errorf("run node %q: unknown record action %q", n.Name, action)
	}
	return n.Next, nil
}

// startRecording starts the call's recording when the caller accepted it
// (rule 15) and returns the visit result. Failing to record never fails
// the call.
func (s *session) startRecording(ctx context.Context, node, queue string) string {
	switch {
	case s.recording != nil:
		return "already recording"
	case s.consent == nil:
		return "not recorded: no consent"
	case s.consent.Choice != ConsentAccepted:
		return "not recorded: consent refused"
	case s.e.recordings == nil:
		s.warnNoRecordings()
		return "not recorded: no recordings store"
	case s.consent.ID == "":
		return "not recorded: consent not stored"
	}
	rc, ok := s.call.(Recordable)
	if !ok {
		s.log.Warn("driver cannot record the call", "node", node)
		return "not recorded: driver cannot record"
	}
	file, err := s.e.recordings.Create(ctx, RecordingMeta{
		CallID:      s.rec.ID,
		Caller:      s.rec.Caller,
		Dialled:     s.rec.Dialled,
		Driver:      s.rec.Driver,
		Flow:        s.flow.Name,
		FlowVersion: s.flow.Version,
		Node:        node,
		Queue:       queue,
		ConsentID:   s.consent.ID,
		StartedAt:   s.e.clock.Now(),
	})
	if err != nil {
		s.log.Error("create recording", "node", node, "err", err)
		return "not recorded: store failed"
	}
	rec, err := rc.Record(ctx, file)
	if err != nil {
		s.log.Error("start recording", "node", node, "recording_id", file.ID(), "err", err)
		abort(ctx, s.log, file)
		return "not recorded: driver failed"
	}
	s.recording = &recording{file: file, rec: rec}
	s.log.Info("recording started", "node", node, "recording_id", file.ID(), "queue", queue)
	return "recording started"
}

// stopRecording stops the call's recording and completes its file.
func (s *session) stopRecording(ctx context.Context, reason string) {
	r := s.recording
	s.recording = nil
	r.close(ctx, s.log, reason)
}

// discardRecording stops the call's recording, if any, and deletes what it
// wrote: the caller refused (rule 14).
func (s *session) discardRecording(ctx context.Context, node string) {
	r := s.recording
	if r == nil {
		return
	}
	s.recording = nil
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordingStopTimeout)
	defer cancel()
	if err := r.rec.Stop(ctx); err != nil {
		s.log.Error("stop recording", "recording_id", r.file.ID(), "err", err)
	}
	abort(ctx, s.log, r.file)
	s.log.Warn("recording discarded: consent refused", "node", node, "recording_id", r.file.ID())
	s.result("recording discarded")
}

// close stops the recorder and completes the file, with a context of its
// own: the call's may be done.
func (r *recording) close(ctx context.Context, log *slog.Logger, reason string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordingStopTimeout)
	defer cancel()
	id := r.file.ID()
	if err := r.rec.Stop(ctx); err != nil {
		log.Error("stop recording", "recording_id", id, "err", err)
	}
	if err := r.file.Close(ctx); err != nil {
		log.Error("close recording", "recording_id", id, "err", err)
		return
	}
	log.Info("recording stopped", "recording_id", id, "reason", reason)
}

func abort(ctx context.Context, log *slog.Logger, f RecordingFile) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordingStopTimeout)
	defer cancel()
	if err := f.Abort(ctx); err != nil {
		log.Error("abort recording", "recording_id", f.ID(), "err", err)
	}
}

// pauseRecording is a record node's pause.
func (s *session) pauseRecording(node string) string {
	r := s.recording
	switch {
	case r == nil:
		return "not recording"
	case r.paused:
		return "already paused"
	}
	r.paused = true
	if !r.sensitive {
		s.pauseRecorder(r, node, "flow")
	}
	return "paused"
}

// resumeRecording is a record node's resume.
func (s *session) resumeRecording(node string) string {
	r := s.recording
	switch {
	case r == nil:
		return "not recording"
	case !r.paused:
		return "not paused"
	}
	r.paused = false
	if !r.sensitive {
		s.resumeRecorder(r, node)
	}
	return "resumed"
}

// pauseSensitive pauses the recording, if one runs, while a sensitive
// collect runs (rule 16); resumeSensitive undoes it.
func (s *session) pauseSensitive(node string) {
	r := s.recording
	if r == nil || r.sensitive {
		return
	}
	r.sensitive = true
	if !r.paused {
		s.pauseRecorder(r, node, "sensitive input "+node)
		s.result("recording paused")
	}
}

func (s *session) resumeSensitive(node string) {
	r := s.recording
	if r == nil || !r.sensitive {
		return
	}
	r.sensitive = false
	if !r.paused {
		s.resumeRecorder(r, node)
		s.result("recording resumed")
	}
}

func (s *session) pauseRecorder(r *recording, node, reason string) {
	r.rec.Pause()
	r.file.Pause(s.e.clock.Now(), reason)
	s.log.Info("recording paused", "node", node, "recording_id", r.file.ID(), "reason", reason)
}

func (s *session) resumeRecorder(r *recording, node string) {
	r.rec.Resume()
	r.file.Resume(s.e.clock.Now())
	s.log.Info("recording resumed", "node", node, "recording_id", r.file.ID())
}

// handOver returns the recording that is to outlive the session: the one
// running, or one started now for the queue node. The session lets go of
// it; the caller closes it when the call ends. r is nil, with the reason,
// when nothing records.
func (s *session) handOver(ctx context.Context, node, queue string) (r *recording, res string) {
	res = "recording continues"
	if s.recording == nil {
		res = s.startRecording(ctx, node, queue)
		if s.recording == nil {
			return nil, res
		}
	}
	r, s.recording = s.recording, nil
	return r, res
}

// recordContinued records the conversation with the agent of a call a
// driver just handed to a queue outside ivrd with record: true (rules 15
// and 17). The call's context ends as it leaves ivrd, while the call goes
// on: only a call that says when it is really over (a Lingerer) is
// recorded there. The recording, started here or already running, is
// handed to a goroutine that closes it once the call is gone. Otherwise
// the session stops any recording when it finishes.
func (s *session) recordContinued(ctx context.Context, node, queue string) string {
	l, ok := s.call.(Lingerer)
	if !ok {
		if s.recording != nil {
			return "recording stopped: driver cannot follow the call"
		}
		return "not recorded: driver cannot follow the call"
	}
	gone := l.Gone()
	// The call's context may be done already (the driver ended it as the
	// call left), yet the call is still up: start on a context of its own.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordingStopTimeout)
	r, res := s.handOver(sctx, node, queue)
	cancel()
	if r == nil {
		return res
	}
	e, log := s.e, s.log
	e.handed.Add(1)
	go func() {
		defer e.handed.Done()
		<-gone
		r.close(ctx, log, "call ended")
	}()
	return res
}
