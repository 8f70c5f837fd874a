// Package models holds the CSV front-ends for the models: each reads a CSV
// file, runs one model package (models/iforest, models/holtwinters) on it
// and writes the results, with errors that name the file, row and column.
// The cobra commands under `chaosgen models` only parse flags and call them.
package models
