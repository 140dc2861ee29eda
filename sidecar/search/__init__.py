"""The request pipeline of /search and the proxy's reranking: the request's contract and bounds,
the pipeline's phases (rule, retrieval, paging, reranking) and what a request produced."""
