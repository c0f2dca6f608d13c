"""The Sinch XMS v1 SMS REST API under `/xms/v1/{service_plan_id or project_id}/`."""
