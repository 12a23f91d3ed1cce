// TorchTrainer::AsTrainable: Ray's TorchTrainer.as_trainable as a Lumen Tune
// class trainable. The trainer's settings travel with the reference
// (TrainableRef::WithParameters) and its resources too (WithResources): a
// placement group of {CPU: 1} for the trial's actor and one bundle per
// worker, whose workers this trial's TorchTrainer places in bundles 1..n.
#include <ray/api/ray_exception.h>
#include <ray/train/torch_trainer.h>
#include <ray/tune/trainable.h>

namespace ray {
namespace train {
namespace torch {
namespace internal {

Json OptionsToJson(const TorchTrainerOptions &o) {
  return Json{{"num_workers", o.num_workers},
              {"use_gpu", o.use_gpu},
              {"num_cpus_per_worker", o.num_cpus_per_worker},
              {"config", o.config},
              {"wrap_ddp", o.wrap_ddp},
              {"scheduler_step_freq", o.scheduler_step_freq},
              {"placement_strategy", o.placement_strategy},
              {"collective_timeout_s", o.collective_timeout_s},
              {"placement_timeout_s", o.placement_timeout_s}};
}

TorchTrainerOptions OptionsFromJson(const Json &j) {
  TorchTrainerOptions o;
  o.num_workers = j.at("num_workers");
  o.use_gpu = j.at("use_gpu");
  o.num_cpus_per_worker = j.at("num_cpus_per_worker");
  o.config = j.at("config");
  o.wrap_ddp = j.at("wrap_ddp");
  o.scheduler_step_freq = j.at("scheduler_step_freq");
  o.placement_strategy = j.at("placement_strategy");
  o.collective_timeout_s = j.at("collective_timeout_s");
  o.placement_timeout_s = j.at("placement_timeout_s");
  return o;
}

/// One trial: a TorchTrainer; a result is one Train() and one Validate().
class TorchTrainable : public ray::tune::Trainable {
 public:
  void Setup(const Json &config) override {
    const auto ctx = ray::tune::GetContext();
    const Json &p = ctx.parameters;
    if (!p.is_object() || !p.contains("operator"))
      throw ray::internal::RayException("TorchTrainable: run it through TorchTrainer::AsTrainable");
    TorchTrainerOptions options = OptionsFromJson(p.at("options"));
    // Ray's as_trainable: the trial's config over the trainer's.
    if (config.is_object()) options.config.update(config, /*merge_objects=*/true);
    if (ctx.placement_group.Empty())
      throw ray::internal::RayException("TorchTrainable: the trial holds no placement group for its workers");
    trainer_ =
        std::make_unique<TorchTrainer>(OperatorClassRef(ray::tune::TrainableRef::FromJson(p.at("operator"))),
                                       options, ctx.placement_group, /*first_bundle=*/1);
  }

  Json Step() override {
    Json stats = trainer_->Train();
    const Json validation = trainer_->Validate();
    for (auto it = validation.begin(); it != validation.end(); ++it)
      stats[it.key() == "num_samples" ? "val_num_samples" : it.key()] = *it;
    return stats;
  }

  void SaveCheckpoint(const std::string &dir) override { trainer_->Save(dir + "/trainer.checkpoint"); }
  void LoadCheckpoint(const std::string &dir) override { trainer_->Load(dir + "/trainer.checkpoint"); }
  void Cleanup() override {
    if (trainer_) trainer_->Shutdown();
  }

 private:
  std::unique_ptr<TorchTrainer> trainer_;
};

}  // namespace internal

ray::tune::TrainableRef TorchTrainer::AsTrainable(OperatorClassRef operator_class,
                                                  TorchTrainerOptions options) {
  if (options.num_workers < 1)
    throw ray::internal::RayException("TorchTrainerOptions::num_workers must be at least 1");
  std::vector<ray::tune::Resources::Bundle> bundles{{{"CPU", 1}}};
  ray::tune::Resources::Bundle worker{{"CPU", options.num_cpus_per_worker}};
  if (options.use_gpu) worker["GPU"] = 1;
  bundles.insert(bundles.end(), options.num_workers, worker);
  ray::PlacementStrategy strategy = ray::PlacementStrategy::PACK;
  if (options.placement_strategy == "SPREAD") strategy = ray::PlacementStrategy::SPREAD;
  if (options.placement_strategy == "STRICT_PACK") strategy = ray::PlacementStrategy::STRICT_PACK;
  if (options.placement_strategy == "STRICT_SPREAD") strategy = ray::PlacementStrategy::STRICT_SPREAD;
  const Json parameters{{"operator", operator_class.factory().ToJson()},
                        {"options", internal::OptionsToJson(options)}};
  return ray::tune::TrainableRef::Class<internal::TorchTrainable>()
      .WithParameters(parameters)
      .WithResources(ray::tune::Resources::PlacementGroup(std::move(bundles), strategy));
}

}  // namespace torch
}  // namespace train
}  // namespace ray
