"""New variants of cached models: quantized (llama.cpp's quantizer), converted (GGUF to ONNX
Runtime GenAI) and imported (a user's own GGUF). Above the registry: these read GGUF headers
and run converters through the engines, then register their output in the store."""
