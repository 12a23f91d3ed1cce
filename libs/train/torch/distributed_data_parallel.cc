// See include/ray/train/torch.h.
#include <ray/api/ray_exception.h>
#include <ray/collective.h>
#include <ray/train.h>
#include <ray/train/torch.h>

namespace ray {
namespace train {
namespace torch {
namespace {

using ray::internal::RayException;
namespace coll = ray::collective;

// Runs `op(pointer, count)` with the tensor's elements as float or double.
template <class Op>
void OnElements(const ::torch::Tensor &t, Op &&op) {
  if (t.scalar_type() == ::torch::kFloat) return op(t.data_ptr<float>(), static_cast<size_t>(t.numel()));
  if (t.scalar_type() == ::torch::kDouble) return op(t.data_ptr<double>(), static_cast<size_t>(t.numel()));
  throw RayException("DistributedDataParallel: parameters must be float32 or float64, not " +
                     std::string(::torch::toString(t.scalar_type())));
}

// Copies rank 0's values of `t` into every worker's, in place.
void BroadcastInPlace(::torch::Tensor t, const std::string &group) {
  ::torch::NoGradGuard no_grad;
  ::torch::Tensor flat = t.is_contiguous() ? t : t.contiguous();
  OnElements(flat, [&](auto *p, size_t n) { coll::Broadcast(p, n, 0, group); });
  if (!flat.is_same(t)) t.copy_(flat);
}

}  // namespace

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<::torch::nn::Module> module)
    : DistributedDataParallel(std::move(module), Options()) {}

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<::torch::nn::Module> module, Options options)
    : module_(std::move(module)), options_(std::move(options)) {
  if (!module_) throw RayException("DistributedDataParallel: no module");
  if (options_.group.empty()) options_.group = ray::train::GetContext().collective_group;
  world_size_ = coll::GetCollectiveGroupSize(options_.group);
  if (world_size_ < 1)
    throw RayException("DistributedDataParallel: not a member of group '" + options_.group + "'");

  if (options_.broadcast_parameters) {
    for (auto &p : module_->parameters()) BroadcastInPlace(p, options_.group);
    for (auto &b : module_->buffers()) BroadcastInPlace(b, options_.group);
  }

  for (auto &p : module_->parameters())
    if (p.requires_grad()) params_.push_back(p);
  // Buckets in reverse parameter order (the order backward tends to produce
  // gradients in), one dtype each, up to bucket_cap_mb.
  const int64_t cap_bytes = static_cast<int64_t>(options_.bucket_cap_mb * 1024 * 1024);
  bucket_of_.assign(params_.size(), 0);
  int64_t bytes = 0, elements = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const auto &p = params_[k];
    OnElements(p, [](auto *, size_t) {});  // float32 or float64 only
    const int64_t size = p.numel() * static_cast<int64_t>(p.element_size());
    if (buckets_.empty() || bytes + size > cap_bytes ||
        buckets_.back().flat.scalar_type() != p.scalar_type()) {
      if (!buckets_.empty())
        buckets_.back().flat = ::torch::empty({elements}, buckets_.back().flat.options());
      buckets_.emplace_back();
      buckets_.back().flat = ::torch::empty({0}, p.options().requires_grad(false));
      bytes = elements = 0;
    }
    Bucket &b = buckets_.back();
    b.params.push_back(k);
    b.offsets.push_back(elements);
    bytes += size;
    elements += p.numel();
    bucket_of_[k] = buckets_.size() - 1;
  }
  if (!buckets_.empty()) buckets_.back().flat = ::torch::empty({elements}, buckets_.back().flat.options());
  have_grad_.assign(params_.size(), false);
  for (size_t k = 0; k < params_.size(); ++k)
    hooks_.push_back(params_[k].register_hook([this, k](::torch::Tensor grad) { OnGradient(k, grad); }));
  reducer_ = std::thread([this] { ReduceLoop(); });
}

DistributedDataParallel::~DistributedDataParallel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  reducer_.join();
  // The module may outlive this object: its parameters must not call back.
  for (size_t k = 0; k < params_.size(); ++k) params_[k].remove_hook(hooks_[k]);
}

void DistributedDataParallel::OnGradient(size_t param, const ::torch::Tensor &grad) {
  Bucket &b = buckets_[bucket_of_[param]];
  size_t slot = 0;
  while (b.params[slot] != param) ++slot;
  std::lock_guard<std::mutex> lock(mu_);
  if (have_grad_[param]) return;  // one backward per SynchronizeGradients (see the header)
  {
    ::torch::NoGradGuard no_grad;
    b.flat.narrow(0, b.offsets[slot], grad.numel()).copy_(grad.reshape({-1}));
  }
  have_grad_[param] = true;
  if (++b.ready == b.params.size()) cv_.notify_all();
}

void DistributedDataParallel::ReduceLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] {
      return stopping_ || (next_bucket_ < buckets_.size() &&
                           buckets_[next_bucket_].ready == buckets_[next_bucket_].params.size());
    });
    if (stopping_) return;
    Bucket &b = buckets_[next_bucket_];
    const bool broken = !error_.empty();  // the group failed earlier this step: skip
    lock.unlock();
    std::string error;
    try {
      if (!broken) OnElements(b.flat, [&](auto *p, size_t n) { coll::AllReduce(p, n, options_.group); });
    } catch (const std::exception &e) {
      error = e.what();
    }
    lock.lock();
    if (!error.empty() && error_.empty()) error_ = error;
    b.reduced = true;
    ++next_bucket_;
    cv_.notify_all();
  }
}

void DistributedDataParallel::SynchronizeGradients() {
  std::unique_lock<std::mutex> lock(mu_);
  // Parameters the backward pass did not reach count as zero gradients, so
  // every worker reduces every bucket.
  for (size_t k = 0; k < params_.size(); ++k) {
    if (have_grad_[k]) continue;
    Bucket &b = buckets_[bucket_of_[k]];
    size_t slot = 0;
    while (b.params[slot] != k) ++slot;
    b.flat.narrow(0, b.offsets[slot], params_[k].numel()).zero_();
    have_grad_[k] = true;
    ++b.ready;
  }
  cv_.notify_all();
  cv_.wait(lock, [&] { return next_bucket_ == buckets_.size(); });
  std::string error = error_;
  if (error.empty()) {
    ::torch::NoGradGuard no_grad;
    for (auto &b : buckets_) {
      b.flat.div_(world_size_);
      for (size_t slot = 0; slot < b.params.size(); ++slot) {
        auto &p = params_[b.params[slot]];
        auto avg = b.flat.narrow(0, b.offsets[slot], p.numel()).view(p.sizes());
        if (p.grad().defined())
          p.mutable_grad().copy_(avg);
        else
          p.mutable_grad() = avg.clone();
      }
    }
  }
  for (auto &b : buckets_) {
    b.ready = 0;
    b.reduced = false;
  }
  std::fill(have_grad_.begin(), have_grad_.end(), false);
  next_bucket_ = 0;
  if (!error.empty()) throw RayException("DistributedDataParallel: a gradient all-reduce failed: " + error);
}

}  // namespace torch
}  // namespace train
}  // namespace ray
