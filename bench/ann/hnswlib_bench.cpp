// hnswlib_bench.cpp - the hnswlib peer of bench/ann: the same protocol as
// ann_bench.c's "hnsw" mode (build single-threaded, then for each ef run
// every query REPS times, median queries/s), printing the same JSON lines.
// Built by bench/ann/run with g++ -O3 -march=native against Debian's
// header-only libhnswlib-dev, so its distance code uses the CPU's vector
// instructions (Debian's python3-hnswlib is built without AVX).
//
//   hnswlib_bench BASE.fvecs QUERY.fvecs GT.ivecs M EFC EF1,EF2,... REPS
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

static double now()
{
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

static double rss_bytes()
{
    long pages = 0, res = 0;
    FILE *f = std::fopen("/proc/self/statm", "r");
    if (f) {
        if (std::fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        std::fclose(f);
    }
    return (double)res * 4096.0;
}

template <class T> static std::vector<T> read_vecs(const char *path, size_t &n, int &dim)
{
    FILE *f = std::fopen(path, "rb");
    if (!f) {
        std::perror(path);
        std::exit(2);
    }
    std::fseek(f, 0, SEEK_END);
    long len = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    if (std::fread(&dim, 4, 1, f) != 1 || dim <= 0) {
        std::fprintf(stderr, "%s: not a vecs file\n", path);
        std::exit(2);
    }
    n = (size_t)(len / (4 + 4L * dim));
    std::vector<T> out(n * (size_t)dim);
    std::fseek(f, 0, SEEK_SET);
    for (size_t i = 0; i < n; i++) {
        int d;
        if (std::fread(&d, 4, 1, f) != 1 || std::fread(&out[i * dim], 4, dim, f) != (size_t)dim) {
            std::fprintf(stderr, "%s: short read\n", path);
            std::exit(2);
        }
    }
    std::fclose(f);
    return out;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        std::fprintf(stderr, "usage: hnswlib_bench BASE QUERY GT M EFC EF,... REPS\n");
        return 2;
    }
    size_t nb, nq, ng;
    int d, dq, gk;
    std::vector<float> base = read_vecs<float>(argv[1], nb, d);
    std::vector<float> qs = read_vecs<float>(argv[2], nq, dq);
    std::vector<int> gt = read_vecs<int>(argv[3], ng, gk);
    if (dq != d || ng != nq || gk < 10)
        return 1;
    // GT.ties: how far the ties with the 10th nearest reach (see ann_bench.c)
    std::vector<int> ties(nq, 10);
    std::string tpath = std::string(argv[3]) + ".ties";
    if (FILE *tf = std::fopen(tpath.c_str(), "rb")) {
        std::fclose(tf);
        size_t nt;
        int one;
        std::vector<int> t = read_vecs<int>(tpath.c_str(), nt, one);
        for (size_t q = 0; q < nq && q < nt; q++)
            ties[q] = std::min(std::max(t[q], 10), gk);
    }
    size_t M = std::atoi(argv[4]), efc = std::atoi(argv[5]);
    int reps = std::atoi(argv[7]);
    double rss0 = rss_bytes();
    hnswlib::InnerProductSpace space(d);
    auto *ix = new hnswlib::HierarchicalNSW<float>(&space, nb, M, efc, 100);
    double t0 = now();
    for (size_t i = 0; i < nb; i++)
        ix->addPoint(&base[i * d], i);
    double build = now() - t0;
    double rss = rss_bytes() - rss0;
    std::stringstream list(argv[6]);
    std::string tok;
    while (std::getline(list, tok, ',')) {
        size_t ef = std::atoi(tok.c_str());
        ix->setEf(ef);
        std::vector<double> qps;
        size_t hits = 0;
        for (int r = 0; r < reps; r++) {
            size_t h = 0;
            double t = now();
            for (size_t q = 0; q < nq; q++) {
                auto res = ix->searchKnn(&qs[q * d], 10);
                while (!res.empty()) {
                    size_t lab = res.top().second;
                    res.pop();
                    for (int g = 0; g < ties[q]; g++)
                        h += (int)lab == gt[q * gk + g];
                }
            }
            qps.push_back(nq / (now() - t));
            hits = h;
        }
        std::sort(qps.begin(), qps.end());
        std::printf("{\"system\": \"hnswlib\", \"M\": %zu, \"ef_construction\": %zu, \"ef\": %zu, "
                    "\"recall\": %.4f, \"qps\": %.1f, \"build_s\": %.2f, \"rss_mb\": %.1f, "
                    "\"n\": %zu}\n",
                    M, efc, ef, hits / (10.0 * nq), qps[reps / 2], build, rss / 1048576.0, nb);
        std::fflush(stdout);
    }
    delete ix;
    return 0;
}
