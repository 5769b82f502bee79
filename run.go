package vidjob

// Run is how the attempt that finished a job went: every external program it
// ran, with the exact arguments, and the time spent in each fixed phase. It
// lets anyone rerun the encode by hand and compare, and shows where a job's
// time went besides ffmpeg.
type Run struct {
	// Attempt is the attempt that finished the job (1 for the first).
	Attempt int `json:"attempt"`
	// Commands are in the order they ended. Paths in their arguments are
	// relative to the attempt's working directory, where "source" is the
	// fetched source and "out/" holds what ffmpeg wrote: the server's own
	// directories are never shown.
	Commands []Command `json:"commands"`
	// Phases are in the order of the job's life (see the Phase constants);
	// a phase the job did not reach is absent.
	Phases []PhaseTime `json:"phases"`
}

// Command is one run of an external program (ffmpeg, ffprobe, exiftool).
type Command struct {
	Program string `json:"program"`
	// Args are the arguments exactly as passed, with paths inside the job's
	// working directory made relative to it.
	Args []string `json:"args"`
	// Millis is the wall time from start to exit.
	Millis int64 `json:"ms"`
	// Phase is the phase the command ran in.
	Phase string `json:"phase,omitempty"`
	// Failed is set when the program failed or was stopped.
	Failed bool `json:"failed,omitempty"`
	// Part is, for a job encoded in parts (accelerated encoding), the part
	// this command encoded, counted from 1; its paths are relative to that
	// part's own working directory, on whichever worker ran it. 0 for the
	// job's own commands.
	Part int `json:"part,omitempty"`
}

// PhaseTime is the wall time a job spent in one phase.
type PhaseTime struct {
	Phase  string `json:"phase"`
	Millis int64  `json:"ms"`
}

// The fixed phases of a job, in order.
const (
	// PhaseQueueWait runs from submission to the start of the finishing attempt
	// (earlier failed attempts and their retry delays included).
	PhaseQueueWait = "queue_wait"
	PhaseFetch     = "fetch"
	PhaseProbe     = "probe"
	PhaseEncode    = "encode"
	// PhaseMetadata is exiftool reading the source and the output.
	PhaseMetadata = "metadata"
	PhaseUpload   = "upload"
	// PhaseFinish is the bookkeeping after the upload up to the job's end
	// being written.
	PhaseFinish = "finish"
	// PhasePostback runs from the job's end being written to its results
	// being delivered (the receiver's answer), including retries.
	PhasePostback = "postback"
)

// Phases lists the fixed phases in order.
func Phases() []string {
	return []string{PhaseQueueWait, PhaseFetch, PhaseProbe, PhaseEncode, PhaseMetadata, PhaseUpload, PhaseFinish, PhasePostback}
}

// Phase returns the time spent in phase and whether the run has it.
func (r *Run) Phase(phase string) (int64, bool) {
	for _, p := range r.Phases {
		if p.Phase == phase {
			return p.Millis, true
		}
	}
	return 0, false
}
