// cxxwork: C++ functions with mangled names (a namespace, a class, an
// overload, a template) burning CPU, for the demangling tests.
// usage: cxxwork SECONDS
#include <chrono>
#include <cstdlib>

// a call makes checkout a non-leaf, so GCC gives it a frame pointer
__attribute__((noinline)) void tick()
{
    __asm__ volatile("" ::: "memory");
}

namespace shop {
template <typename T> struct Cart {
    static volatile T sink;
    __attribute__((noinline)) static T checkout(T x, int rounds)
    {
        tick();
        for (int i = 0; i < rounds; i++)
            x = x * 2862933555777941757UL + 3037000493UL;
        sink = x;
        return x;
    }
};
template <typename T> volatile T Cart<T>::sink;

__attribute__((noinline)) unsigned long price(unsigned long x, double)
{
    return Cart<unsigned long>::checkout(x, 200000);
}
} // namespace shop

int main(int argc, char **argv)
{
    auto end = std::chrono::steady_clock::now() +
               std::chrono::duration<double>(argc > 1 ? std::atof(argv[1]) : 2);
    unsigned long x = 1;

    while (std::chrono::steady_clock::now() < end)
        x = shop::price(x, 1.5);
    return static_cast<int>(x & 1);
}
