/* Stand-in for type-checking builds. */
#define assert(x) ((void)0)
