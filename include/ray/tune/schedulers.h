// Lumen extension (not part of Ray's C++ API): every trial scheduler of Lumen
// Tune in one include -- the TrialScheduler interface and FIFOScheduler
// (trial_scheduler.h), AsyncHyperBandScheduler / ASHAScheduler, HyperBand,
// MedianStoppingRule and PopulationBasedTraining. Each is driven by the
// experiment's single driver thread; see trial_scheduler.h for the contract.
#pragma once

#include "ray/tune/async_hyperband.h"
#include "ray/tune/hyperband.h"
#include "ray/tune/median_stopping_rule.h"
#include "ray/tune/pbt.h"
#include "ray/tune/trial_scheduler.h"
