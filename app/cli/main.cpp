// tunebench-cli: everything the workbench does, headless. No Qt, so it also builds on a GPU
// machine that has only LibTorch.
#include "cli/ArgList.h"
#include "cli/Commands.h"
#include "core/ThreadPoolEnvironment.h"

#include <algorithm>
#include <cstring>
#include <iostream>
#include <iterator>

namespace {

const char* const kUsage = R"(usage: tunebench-cli COMMAND [OPTIONS]

Commands:
  make-demo-model --out DIR [--preset tiny|small] [--seed N]
      Write the built-in demo model (a Hugging Face Llama folder).
  inspect --model DIR [--json] | inspect FILE.gguf [--json]
      Architecture, sizes, parameter count and weight bytes in bf16, fp32 and NF4; for a GGUF
      file its architecture, metadata, and each tensor's type and size.
  tokenize (--model DIR | --tokenizer FILE) [--add-special-tokens]
      JSON Lines {"text": ...} on stdin -> {"ids": [...]} on stdout, in order.
  generate --model DIR [--adapter DIR] --prompt TEXT [--max-new-tokens N] [--temperature T] [--top-p P]
           [--seed N] [--stop STR]... [--chat [--system TEXT]] [--dtype bf16|fp32]
           [--device cpu|cuda:N] [--threads N] [--json]
      Continue a prompt, streaming the text as it is generated. With --chat the prompt is a
      user message rendered through the model's chat template.
  train --model DIR --data FILE [--val-data FILE] [--method lora|qlora|full] [--rank R] [--alpha A]
        [--dropout P] [--targets q_proj,v_proj,...] [--rslora] [--lr LR] [--steps N | --epochs E]
        [--batch-size B] [--grad-accum K] [--seq-len L] [--schedule constant|linear|cosine]
        [--warmup W] [--eval-every N] [--save-every N] [--seed S] [--threads T] [--pack]
        [--train-on-prompt] [--gradient-checkpointing] [--format auto|text|json-text|instruction|chat]
        [--adapter DIR (continue training a PEFT adapter)]
        [--quant nf4|int8] [--double-quant | --no-double-quant] [--blocksize 64] [--quant-cache DIR]
        [--device cpu|cuda:N] [--base-dtype bf16|fp32] [--out RUN_DIR | --resume RUN_DIR] [--name NAME]
        [--db PATH | --no-db] [--json] [--nproc-per-node N | --device cuda --devices 0,1,...] [--dist-timeout SECONDS]
      Fine-tune; writes checkpoints and the adapter (PEFT format) into RUN_DIR (default: a new
      folder in the database's workspace) and records the run in the experiment database. Ctrl-C stops cleanly with a checkpoint; --resume
      continues it (the same run in the database).
      --nproc-per-node N trains data-parallel in N worker processes (torch.distributed, Gloo on
      the CPU, NCCL on CUDA): the global batch is batch x accumulation x N. Under torchrun or
      srun, each process is one worker (RANK, WORLD_SIZE, MASTER_ADDR, ... or SLURM_*); --out is
      then required.
  dataset --model DIR --data FILE [--val-data FILE] [--seq-len L] [--format F] [--pack]
          [--train-on-prompt] [--preview N] [--json]
      How a dataset will be trained: format, counts, token-length histogram, truncated and
      skipped records, and the first records rendered with the loss-bearing part marked.
  eval --model DIR [--adapter DIR] --data FILE [--seq-len L] [--json]
      Loss and perplexity of a model (with an adapter) on a dataset.
  merge --model DIR --adapter DIR --out DIR [--dtype bf16|fp32]
      Merge a LoRA adapter into the base weights and save a Hugging Face model folder.
  export --model DIR [--adapter DIR | --run ID [--db PATH]] [--format gguf|gguf-lora]
         [--type f32|f16|bf16|q8_0|q4_0|q4_k_m|q5_k_m|q6_k] [--lora-type f32|f16|bf16|q8_0]
         (--out FILE.gguf [--base-out BASE.gguf] | --ollama DIR) [--name NAME] [--threads N] [--json]
      GGUF for llama.cpp, LM Studio and Ollama: the model with the adapter merged in (gguf), or the
      adapter alone as a llama.cpp LoRA (gguf-lora, with --base-out the matching base GGUF too);
      --ollama writes the GGUF file(s) and a Modelfile. --run records the files with the run.
  runs list [--status S] [--tag T] [--json] | show ID [--json] | compare ID ID... [--format text|markdown|csv|html] [--json]
       | delete ID [--files] | rename ID NAME | tag ID TAG [--remove] | note ID TEXT   [--db PATH]
      The experiment database (default ~/.local/share/Tunebench/tunebench.db, or TUNEBENCH_DB).
  bench --model DIR [--method lora|qlora|full] [--seq-len 512] [--batch-size 1] [--steps 5] [--rank 16]
        [--gradient-checkpointing] [--attention fused|unfused] [--lora fused|plain] [--device cpu|cuda:N]
        [--threads N] [--json]
      Time training steps: tokens/s and GFLOP/s, next to the bf16 matmul rate of this machine.
  report --model DIR --data FILE [--val-data FILE] [--methods lora,qlora,full] [--steps N] [--seq-len L]
         [--batch-size B] [--rank R] [--seed S] [--threads T] [--device cpu|cuda:N] [--budget BYTES]
         [--price-per-hour X] [--watts W] [--fit confirm|estimate|off] [--db PATH] --out DIR [--force] [--json]
      Train each method on the same model, data, seed and steps (each a run in the database) and
      write a comparison report: report.md, report.html, report.json, loss.png, memory.png.
  estimate --model DIR [--method lora|qlora|full] [--batch-size B] [--seq-len L] [--gradient-checkpointing]
           [--rank R] [--targets ...] [--quant nf4|int8] [--no-double-quant] [--device cpu|cuda:N]
           [--threads N] [--budget BYTES] [--json]
      Predicted peak memory by category and phase, from config.json alone, against the device's free memory.
  fit --model DIR --data FILE [--methods lora,qlora,full] [--seq-len L] [--budget BYTES (8G, 512M)]
      [--no-confirm] [--device cpu|cuda:N] [--threads N] [--json]
      Largest batch size and longest sequence length within the budget per method, from the estimator,
      confirmed with 2-step training runs.
  download ORG/NAME [--revision REV] [--include GLOB]... [--repo-type model|dataset] [--token TOKEN]
           [--connections N] [--json]
      Download from the Hugging Face Hub into its shared cache (HF_HOME, HF_HUB_CACHE, HF_ENDPOINT,
      HF_TOKEN, HF_HUB_OFFLINE as huggingface_hub reads them) and print the snapshot folder, which
      --model takes. By default the files training needs (config, tokenizer, *.safetensors);
      interrupted downloads resume. See docs/hub.md.

Run 'tunebench-cli COMMAND --help' for a command's options.
)";

} // namespace

int main(int argc, char** argv)
{
    // Commands that keep the thread pool busy for long get its waiting policy, at the price of
    // starting this program once more (~0.4 s; the quick ones skip it).
    static const char* const computeCommands[] = {"train", "eval", "bench", "generate", "report", "fit"};
    if (argc >= 2 && std::any_of(std::begin(computeCommands), std::end(computeCommands),
                                 [&](const char* c) { return !std::strcmp(argv[1], c); }))
        tb::ensureThreadPoolEnvironment(argv); // may start this program afresh: first of all
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
        std::cout << kUsage;
        return argc < 2 ? 2 : 0;
    }
    const std::string command = argv[1];
    const std::vector<std::string> args(argv + 2, argv + argc);
    for (const auto& a : args)
        if (a == "--help" || a == "-h") {
            std::cout << kUsage;
            return 0;
        }
    try {
        if (command == "make-demo-model")
            return tbcli::runMakeDemoModel(args);
        if (command == "inspect")
            return tbcli::runInspect(args);
        if (command == "tokenize")
            return tbcli::runTokenize(args);
        if (command == "generate")
            return tbcli::runGenerate(args);
        if (command == "train")
            return tbcli::runTrain(args);
        if (command == "eval")
            return tbcli::runEval(args);
        if (command == "merge")
            return tbcli::runMerge(args);
        if (command == "export")
            return tbcli::runExport(args);
        if (command == "bench")
            return tbcli::runBench(args);
        if (command == "runs")
            return tbcli::runRuns(args);
        if (command == "dataset")
            return tbcli::runDataset(args);
        if (command == "estimate")
            return tbcli::runEstimate(args);
        if (command == "fit")
            return tbcli::runFit(args);
        if (command == "report")
            return tbcli::runReport(args);
        if (command == "download")
            return tbcli::runDownload(args);
        std::cerr << "tunebench-cli: unknown command \"" << command << "\"\n\n" << kUsage;
        return 2;
    } catch (const tbcli::UsageError& e) {
        std::cerr << "tunebench-cli " << command << ": " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "tunebench-cli " << command << ": error: " << e.what() << "\n";
        return 1;
    }
}
