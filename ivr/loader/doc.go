// Package loader reads the flows folder: entrypoints.yaml and one YAML file
// per flow. It decodes them strictly (an unknown key is an error), validates
// every reference and that no recording can start before a consent node,
// lints the flows for design mistakes, renders every spoken prompt (the
// default consent notices included) once through a TTS, and returns a ready
// ivr.FlowSet.
//
// A flow may be the translation of another (`translation_of:`): lint then
// compares it node by node with its original and warns about what callers
// of one language would miss, including recordings missing from the
// language's prompts folder.
//
// Every diagnostic carries the file, line and column it is about, so an
// admin can fix a flow from the message alone. Library keeps the current
// FlowSet and swaps in a new one on reload; a flows folder with errors never
// replaces a working one.
package loader
